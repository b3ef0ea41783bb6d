# `cmake --install`: libengine, every public header (each layer's include/ folder; internal
# headers stay out), the CMake package (find_package(LlamaEngine) -> llama::engine) and
# llama-engine.pc. Included from engine/CMakeLists.txt; the tools and the shipped model install
# from tools/.
include(CMakePackageConfigHelpers)

set_target_properties(engine PROPERTIES EXPORT_NAME engine)
install(TARGETS engine EXPORT LlamaEngineTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(folder ${LLAMA_LAYERS})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
endforeach()

# A static libengine carries its dependencies into every program that links it: the package
# looks them up then (a shared one links them itself).
if(BUILD_SHARED_LIBS)
  set(LLAMA_ENGINE_STATIC FALSE)
else()
  set(LLAMA_ENGINE_STATIC TRUE)
endif()

set(cmake_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/LlamaEngine)
install(EXPORT LlamaEngineTargets NAMESPACE llama:: DESTINATION ${cmake_package_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/LlamaEngineConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/LlamaEngineConfig.cmake INSTALL_DESTINATION ${cmake_package_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/LlamaEngineConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/LlamaEngineConfig.cmake
  ${PROJECT_BINARY_DIR}/package/LlamaEngineConfigVersion.cmake DESTINATION ${cmake_package_dir})

# pkg-config: the prefix is found from the .pc file's own place, so an install tree can move.
# A static libengine cannot be linked without its dependencies, so they are plain Requires/Libs
# there (`pkg-config --libs` just works); a shared one lists them as Requires.private /
# Libs.private (for `pkg-config --static`). -lstdc++ -lm let a C program link the C++ library.
file(RELATIVE_PATH LLAMA_PC_PREFIX_FROM_PCFILEDIR
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" LLAMA_PC_PREFIX_FROM_PCFILEDIR "${LLAMA_PC_PREFIX_FROM_PCFILEDIR}")
set(LLAMA_PC_DEPENDENCIES "openblas sentencepiece spdlog")
set(LLAMA_PC_SYSTEM_LIBS "-lstdc++ -lm -pthread")
if(LLAMA_ENGINE_STATIC)
  set(LLAMA_PC_REQUIRES "Requires: ${LLAMA_PC_DEPENDENCIES}")
  set(LLAMA_PC_LIBS "Libs: -L\${libdir} -lengine ${LLAMA_PC_SYSTEM_LIBS}")
else()
  set(LLAMA_PC_REQUIRES "Requires.private: ${LLAMA_PC_DEPENDENCIES}")
  set(LLAMA_PC_LIBS "Libs: -L\${libdir} -lengine\nLibs.private: ${LLAMA_PC_SYSTEM_LIBS}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/llama-engine.pc.in
  ${PROJECT_BINARY_DIR}/package/llama-engine.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/package/llama-engine.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
