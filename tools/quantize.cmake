# llama-quantize (included from tools/CMakeLists.txt): GGUF writer for GGUF or Hugging Face input.
# The conversion itself lives in the engine (model/gguf_convert.h, an internal header).
add_executable(llama-quantize ${CMAKE_CURRENT_LIST_DIR}/llama-quantize.cpp)
target_include_directories(llama-quantize PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(llama-quantize PRIVATE tool_common)
install(TARGETS llama-quantize RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
